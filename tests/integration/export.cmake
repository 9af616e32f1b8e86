# Exports read back by their real consumers: Optuna (python3-optuna) and nnU-Net's trainer file (py_compile).
foreach(t export_optuna export_nnunet)
  add_test(NAME ${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/${t}.sh $<TARGET_FILE:proxyseg> ${PS_PYTHON}
           WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(${t} PROPERTIES LABELS "integration;oracle;export" SKIP_RETURN_CODE 77 TIMEOUT 300
                       ENVIRONMENT "PROXYSEG_EXE=$<TARGET_FILE:proxyseg>;OMP_NUM_THREADS=1")
endforeach()
