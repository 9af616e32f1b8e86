# nnU-Net datasets and folders: predict on channel folders, evaluate's summary.json against numpy, ids and splits.
add_test(NAME predict_channels COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/predict_channels.sh $<TARGET_FILE:proxyseg>
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(predict_channels PROPERTIES LABELS "integration;data" TIMEOUT 300 ENVIRONMENT "OMP_NUM_THREADS=1")
add_test(NAME evaluate_summary COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/evaluate_summary.sh $<TARGET_FILE:proxyseg> ${PS_PYTHON}
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(evaluate_summary PROPERTIES LABELS "integration;oracle;data" SKIP_RETURN_CODE 77 TIMEOUT 300)
add_test(NAME nnunet_raw COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/nnunet_raw.sh $<TARGET_FILE:proxyseg>
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(nnunet_raw PROPERTIES LABELS "integration;data" TIMEOUT 300
                     ENVIRONMENT "PROXYSEG_EXE=$<TARGET_FILE:proxyseg>;OMP_NUM_THREADS=1")
