# predict/evaluate end to end through the CLI, geometry checked with nibabel.
add_test(NAME predict_cli COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/predict_cli.sh $<TARGET_FILE:proxyseg> ${PS_PYTHON}
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(predict_cli PROPERTIES LABELS "integration;oracle;train" SKIP_RETURN_CODE 77 TIMEOUT 600)
