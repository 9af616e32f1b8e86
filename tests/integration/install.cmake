# cmake --install into a temporary prefix; the installed binary finds its spaces.
add_test(NAME install COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/install.sh ${CMAKE_BINARY_DIR}
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(install PROPERTIES LABELS "integration" TIMEOUT 120)
