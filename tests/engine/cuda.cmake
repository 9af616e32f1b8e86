# CUDA backend tests (PS_WITH_CUDA=ON). Until the top-level CMakeLists adds
# src/backend/cuda itself, this fragment does (guarded, so both can coexist).
# test_cuda_ops compares every CUDA kernel with the CPU ops; without a GPU (or
# without PS_WITH_CUDA) it prints SKIP and exits 77.
if(PS_WITH_CUDA AND NOT TARGET ps_cuda)
  add_subdirectory(${CMAKE_SOURCE_DIR}/src/backend/cuda ${CMAKE_BINARY_DIR}/src/backend/cuda)
endif()
if(TARGET test_cuda_ops)
  if(TARGET ps_cuda)
    target_link_libraries(test_cuda_ops PRIVATE ps_cuda)
  endif()
  set_tests_properties(test_cuda_ops PROPERTIES LABELS "unit;engine;cuda" SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
