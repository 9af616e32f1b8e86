# libFuzzer targets for the journal, the user-written JSON configs (study,
# search space, training), the training inputs (--set, --arch, policy, plan,
# splits), the Optuna/CSV export, the preprocessed cache and the checkpoint
# readers. Built like tests/data/fuzz.cmake's and run by tests/fuzz/run_fuzz.sh.
if(PS_FUZZ)
  foreach(t fuzz_journal fuzz_config fuzz_train_inputs fuzz_export fuzz_cache fuzz_checkpoint fuzz_checkpoint_hdf5)
    if(t STREQUAL "fuzz_checkpoint_hdf5")
      add_executable(${t} ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_checkpoint.c)
      target_compile_definitions(${t} PRIVATE PS_FUZZ_FIXUP=1)
    else()
      add_executable(${t} ${CMAKE_SOURCE_DIR}/tests/fuzz/${t}.c)
    endif()
    target_compile_options(${t} PRIVATE -fsanitize=fuzzer,address)
    target_link_options(${t} PRIVATE -fsanitize=fuzzer,address)
    target_link_libraries(${t} PRIVATE ps_study)
  endforeach()
endif()
