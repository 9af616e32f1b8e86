# unet helper's fragment: test_unet_torch is an oracle test (PyTorch + h5py via
# ${PS_PYTHON}); it skips with exit 77 when they are missing.
if(TARGET test_unet_torch)
  target_compile_definitions(test_unet_torch PRIVATE
    PS_UNET_TORCH_SCRIPT="${CMAKE_CURRENT_SOURCE_DIR}/engine/unet_torch_check.py")
  set_tests_properties(test_unet_torch PROPERTIES
    LABELS "oracle;engine" SKIP_RETURN_CODE 77 TIMEOUT 300
    ENVIRONMENT "PS_PYTHON=${PS_PYTHON}")
endif()
# ps_core lists GSL::gsl (which drags in GSL's reference libgslcblas) before
# OpenBLAS, so cblas_sgemm would resolve to the slow reference version; naming
# OpenBLAS directly on these targets puts it first on the link line.
foreach(t test_unet test_unet_torch test_train_smoke test_checkpoint test_optim)
  if(TARGET ${t})
    target_link_libraries(${t} PRIVATE PkgConfig::OPENBLAS)
  endif()
endforeach()
