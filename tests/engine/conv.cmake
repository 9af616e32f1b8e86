# conv helper's fragment: test_conv_torch is an oracle test (PyTorch via
# ${PS_PYTHON}); it skips with exit 77 when torch is missing.
if(TARGET test_conv_torch)
  target_compile_definitions(test_conv_torch PRIVATE
    PS_CONV_TORCH_SCRIPT="${CMAKE_CURRENT_SOURCE_DIR}/engine/conv_torch.py")
  set_tests_properties(test_conv_torch PROPERTIES
    LABELS "oracle;engine" SKIP_RETURN_CODE 77 TIMEOUT 300
    ENVIRONMENT "PS_PYTHON=${PS_PYTHON}")
endif()
