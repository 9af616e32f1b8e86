# Hostile datasets (duplicates, NaN/inf voxels, zero pixdim, absurd spacings,
# a FIFO / folder / dangling link / loop as dataset.json): exit code and message.
add_test(NAME hostile_data COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/hostile_data.sh $<TARGET_FILE:proxyseg> ${PS_PYTHON}
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(hostile_data PROPERTIES LABELS "integration;data" SKIP_RETURN_CODE 77 TIMEOUT 300)
