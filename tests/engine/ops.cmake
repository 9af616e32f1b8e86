# ops helper: the PyTorch oracle for the non-convolution ops and losses.
# test_ops_torch is built by the generic glob; here it learns where its python
# script lives and becomes an oracle test (skipped, exit 77, without torch).
if(TARGET test_ops_torch)
  target_compile_definitions(test_ops_torch PRIVATE PS_OPS_TORCH_PY="${CMAKE_CURRENT_LIST_DIR}/ops_torch.py")
  set_tests_properties(test_ops_torch PROPERTIES LABELS "oracle;engine" SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
