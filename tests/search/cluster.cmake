# Several processes on one study: the driver lock and trial_timeout, trials over
# MPI ranks (skips with 77 without mpirun or an MPI build), file-shared workers.
foreach(t study_lock search_mpi study_worker)
  add_test(NAME ${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/${t}.sh $<TARGET_FILE:proxyseg> ${PS_PYTHON}
           WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(${t} PROPERTIES LABELS "integration;search;cluster" SKIP_RETURN_CODE 77 TIMEOUT 600
                       ENVIRONMENT "PROXYSEG_EXE=$<TARGET_FILE:proxyseg>;OMP_NUM_THREADS=1")
endforeach()
