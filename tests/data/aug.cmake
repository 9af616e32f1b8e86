# Oracle tests of helper "aug" (metrics): EDT / HD95 against scipy and the
# `proxyseg evaluate` CLI against nibabel + scipy. Skipped (77) without scipy.
add_executable(aug_edt_dump ${CMAKE_CURRENT_LIST_DIR}/aug_edt_dump.c)
target_link_libraries(aug_edt_dump PRIVATE ps_data)
add_test(NAME aug_oracle_metrics
         COMMAND ${PS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/aug_oracle_metrics.py $<TARGET_FILE:aug_edt_dump> $<TARGET_FILE:proxyseg>
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(aug_oracle_metrics PROPERTIES LABELS "oracle;data" SKIP_RETURN_CODE 77 TIMEOUT 300)
