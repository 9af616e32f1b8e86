# Commands under an address-space limit end with a clear error instead of hanging.
add_test(NAME limits_cli COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/limits.sh $<TARGET_FILE:proxyseg>
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(limits_cli PROPERTIES LABELS "integration;core" TIMEOUT 600)
