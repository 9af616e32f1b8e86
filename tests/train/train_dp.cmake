# Data-parallel training under mpirun (skips with 77 without mpirun, an MPI build or h5py).
add_test(NAME train_dp COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/train_dp.sh $<TARGET_FILE:proxyseg> ${PS_PYTHON}
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(train_dp PROPERTIES LABELS "integration;train;cluster" SKIP_RETURN_CODE 77 TIMEOUT 600
                     ENVIRONMENT "OMP_NUM_THREADS=1")
