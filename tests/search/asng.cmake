# ASNG against a numpy transcription of the reference's update (skipped, exit 77, without numpy).
add_test(NAME test_asng_reference
         COMMAND test_asng --oracle ${PS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/search/asng_ref.py
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(test_asng_reference PROPERTIES LABELS "oracle;search" SKIP_RETURN_CODE 77 TIMEOUT 120)
