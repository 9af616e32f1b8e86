# Study-level integration tests: they drive the proxyseg binary like a user.
set(PS_STUDY_ENV "PROXYSEG_EXE=$<TARGET_FILE:proxyseg>;OMP_NUM_THREADS=1")
foreach(t study_e2e study_resume study_diverge study_prune study_options study_noise)
  add_test(NAME ${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/${t}.sh $<TARGET_FILE:proxyseg> ${PS_PYTHON}
           WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(${t} PROPERTIES LABELS "integration;search;slow" SKIP_RETURN_CODE 77 TIMEOUT 900
                       ENVIRONMENT "${PS_STUDY_ENV}")
endforeach()

add_test(NAME cli_errors COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/cli_errors.sh $<TARGET_FILE:proxyseg>
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(cli_errors PROPERTIES LABELS "integration;search" TIMEOUT 300 ENVIRONMENT "${PS_STUDY_ENV}")
