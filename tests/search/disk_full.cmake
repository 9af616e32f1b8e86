# A full disk (a real one: a 6 MB tmpfs) leaves the trial RUNNING, and a
# resume after freeing space runs it again. Skips (77) where tmpfs cannot be mounted.
add_test(NAME disk_full COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/disk_full.sh $<TARGET_FILE:proxyseg>
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(disk_full PROPERTIES LABELS "integration;search" SKIP_RETURN_CODE 77 TIMEOUT 300)
