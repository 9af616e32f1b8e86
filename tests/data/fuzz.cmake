# libFuzzer targets for the NIfTI reader and dataset.json parser (helper
# "nifti"). Only with -DPS_FUZZ=ON and clang; tests/fuzz/run_fuzz.sh configures
# the build (CMAKE_C_FLAGS=-fsanitize=fuzzer-no-link,address) and runs them.
if(PS_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "PS_FUZZ needs clang (cmake -DCMAKE_C_COMPILER=clang)")
  endif()
  foreach(t fuzz_nifti fuzz_dataset_json)
    add_executable(${t} ${CMAKE_SOURCE_DIR}/tests/fuzz/${t}.c)
    target_compile_options(${t} PRIVATE -fsanitize=fuzzer,address)
    target_link_options(${t} PRIVATE -fsanitize=fuzzer,address)
    target_link_libraries(${t} PRIVATE ps_data)
  endforeach()
endif()
