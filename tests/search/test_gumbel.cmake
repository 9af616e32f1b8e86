# Gumbel NAS end to end (search -> genotype -> train --arch -> predict; kill -9 + resume).
add_test(NAME gumbel_e2e COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_gumbel_e2e.sh $<TARGET_FILE:proxyseg> ${PS_PYTHON}
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(gumbel_e2e PROPERTIES LABELS "integration;search;slow" SKIP_RETURN_CODE 77 TIMEOUT 900
                     ENVIRONMENT "PROXYSEG_EXE=$<TARGET_FILE:proxyseg>;OMP_NUM_THREADS=1")
# Known answer: the search ranks the only op that reaches the label's context first, in most seeds.
add_test(NAME gumbel_known_answer COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_gumbel_known.sh $<TARGET_FILE:proxyseg>
         ${PS_PYTHON} WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(gumbel_known_answer PROPERTIES LABELS "integration;search;slow" SKIP_RETURN_CODE 77 TIMEOUT 600
                     ENVIRONMENT "OMP_NUM_THREADS=1")
# `study` with "algo": "gumbel-nas": search, derived cells vs U-Net at full scale (paired seeds), report with the cells.
add_test(NAME gumbel_study COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/gumbel_study.sh $<TARGET_FILE:proxyseg> ${PS_PYTHON}
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(gumbel_study PROPERTIES LABELS "integration;search" TIMEOUT 600
                     ENVIRONMENT "OMP_NUM_THREADS=1")
