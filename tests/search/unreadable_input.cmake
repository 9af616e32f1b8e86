# A case file without read permission is refused naming the file and the cause;
# runs as user nobody, skips (77) without root or setpriv.
add_test(NAME unreadable_input COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/unreadable_input.sh $<TARGET_FILE:proxyseg>
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(unreadable_input PROPERTIES LABELS "integration;search" SKIP_RETURN_CODE 77 TIMEOUT 300)
