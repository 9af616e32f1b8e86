# ASNG against a numpy transcription of the reference's update (skipped, exit 77, without numpy).
add_test(NAME test_asng_reference
         COMMAND test_asng --oracle ${PS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/search/asng_ref.py
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(test_asng_reference PROPERTIES LABELS "oracle;search" SKIP_RETURN_CODE 77 TIMEOUT 120)
# search --algo asng through the CLI (one-shot trial, policy.json usable by train --config).
add_test(NAME asng_search COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/asng_search.sh $<TARGET_FILE:proxyseg>
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(asng_search PROPERTIES LABELS "integration;search" TIMEOUT 600
                     ENVIRONMENT "PROXYSEG_EXE=$<TARGET_FILE:proxyseg>;OMP_NUM_THREADS=1")
if(TARGET test_asng_plugin)
  target_compile_definitions(test_asng_plugin PRIVATE PS_ASNG_SPACE="${CMAKE_SOURCE_DIR}/search/spaces/asng.json")
endif()
