# Backend tests. test_backend_ops (registered by the glob) holds "cpu" to
# "cpu-ref"; the same program runs for "cuda" (SKIP, exit 77, where the build or
# the machine has none). backward_fail: an allocation that fails inside backward
# (PS_TEST_FAIL_BACKWARD_ALLOC) makes every training trial of a search FAIL.
if(TARGET test_backend_ops)
  add_test(NAME test_backend_ops_cuda COMMAND test_backend_ops cuda WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(test_backend_ops_cuda PROPERTIES LABELS "unit;engine;cuda" SKIP_RETURN_CODE 77 TIMEOUT 600)
  # every conv algorithm of the cpu backend, whatever the default picks per
  # shape: GEMM, Winograd F(2,3), Winograd F(4,3)
  foreach(algo gemm winograd2 winograd4)
    add_test(NAME test_backend_ops_${algo} COMMAND test_backend_ops cpu WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
    set_tests_properties(test_backend_ops_${algo} PROPERTIES LABELS "unit;engine" TIMEOUT 300
                         ENVIRONMENT "PS_CONV_ALGO=${algo}")
  endforeach()
endif()
add_test(NAME backward_fail COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/backward_fail.sh $<TARGET_FILE:proxyseg>
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(backward_fail PROPERTIES LABELS "integration;engine" TIMEOUT 300
                     ENVIRONMENT "OMP_NUM_THREADS=1")
