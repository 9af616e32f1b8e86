# The CLI convention, command by command: -h/--help, --key=value, hidden internal commands, -q.
add_test(NAME cli_convention COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/cli_convention.sh $<TARGET_FILE:proxyseg>
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(cli_convention PROPERTIES LABELS "integration;cli" TIMEOUT 300
                     ENVIRONMENT "PROXYSEG_EXE=$<TARGET_FILE:proxyseg>;OMP_NUM_THREADS=1")
