# NIfTI oracle and CLI tests (helper "nifti"): nibabel compares proxyseg's
# reader/writer on Debian's mricron-data templates, nibabel's test data and
# files nibabel writes; the CLI must exit 3 on every hostile file.
add_executable(ps_nifti_dump ${CMAKE_CURRENT_SOURCE_DIR}/data/nifti_dump.c)
target_link_libraries(ps_nifti_dump PRIVATE ps_data)
add_test(NAME nifti_oracle
         COMMAND ${PS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/data/nifti_oracle.py $<TARGET_FILE:ps_nifti_dump>
                 ${CMAKE_CURRENT_BINARY_DIR}/tmp_nifti_oracle)
set_tests_properties(nifti_oracle PROPERTIES LABELS "oracle;data" SKIP_RETURN_CODE 77 TIMEOUT 300)
add_test(NAME nifti_cli
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/data/nifti_cli.sh $<TARGET_FILE:proxyseg> $<TARGET_FILE:test_nifti>
                 ${CMAKE_CURRENT_BINARY_DIR}/tmp_nifti_cli)
set_tests_properties(nifti_cli PROPERTIES LABELS "unit;data" TIMEOUT 120)
