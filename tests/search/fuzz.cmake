# libFuzzer targets for the journal reader and the three user-written JSON
# configs (study, search space, training). Built like tests/data/fuzz.cmake's
# and run by tests/fuzz/run_fuzz.sh.
if(PS_FUZZ)
  foreach(t fuzz_journal fuzz_config)
    add_executable(${t} ${CMAKE_SOURCE_DIR}/tests/fuzz/${t}.c)
    target_compile_options(${t} PRIVATE -fsanitize=fuzzer,address)
    target_link_options(${t} PRIVATE -fsanitize=fuzzer,address)
    target_link_libraries(${t} PRIVATE ps_study)
  endforeach()
endif()
