# Oracle for preprocessing (helper "prep"): resampling vs SciPy, reorientation
# vs nibabel, through /usr/bin/python3 (skipped, loudly, when missing).
add_executable(prep_oracle ${CMAKE_CURRENT_SOURCE_DIR}/data/prep_oracle.c)
target_link_libraries(prep_oracle PRIVATE ps_data ps_testutil)
add_test(NAME prep_oracle COMMAND prep_oracle ${CMAKE_CURRENT_SOURCE_DIR}/data/prep_oracle.py
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(prep_oracle PROPERTIES LABELS "oracle;data" SKIP_RETURN_CODE 77 TIMEOUT 120
                     ENVIRONMENT "PS_PYTHON=${PS_PYTHON}")

# datasets/fetch_msd.sh must refuse a tarball whose MD5 is not the published
# one (here: junk served through a file:// mirror) and extract nothing.
add_test(NAME prep_fetch_msd_checksum
         COMMAND bash -c "set -u; d=$(mktemp -d) && echo junk > $d/Task04_Hippocampus.tar && \
if PS_MSD_BASE_URL=file://$d '${CMAKE_SOURCE_DIR}/datasets/fetch_msd.sh' $d/out Task04_Hippocampus 2> $d/err; then echo 'accepted a bad checksum'; exit 1; fi; \
grep -q 'checksum mismatch' $d/err && test ! -e $d/out/Task04_Hippocampus && rm -rf $d")
set_tests_properties(prep_fetch_msd_checksum PROPERTIES LABELS "unit;data" TIMEOUT 60)

# proxyseg generate / preprocess end to end through the binary.
add_test(NAME prep_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/data/prep_cli.sh $<TARGET_FILE:proxyseg>)
set_tests_properties(prep_cli PROPERTIES LABELS "integration;data" TIMEOUT 120)
