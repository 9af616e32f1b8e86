# One-shot studies (study_oneshot.c): `study --algo asng` end to end, kill -9 during the re-training, report.
add_test(NAME oneshot_study COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/oneshot_study.sh $<TARGET_FILE:proxyseg> ${PS_PYTHON}
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(oneshot_study PROPERTIES LABELS "integration;search" TIMEOUT 600
                     ENVIRONMENT "PROXYSEG_EXE=$<TARGET_FILE:proxyseg>;OMP_NUM_THREADS=1")
