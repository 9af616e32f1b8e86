# Oracle test of the rank statistics against SciPy (spearmanr, kendalltau tau-b,
# pearsonr): test_stats in --oracle mode runs stats_scipy.py with Debian's python.
add_test(NAME test_stats_scipy
         COMMAND test_stats --oracle ${PS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/proxy/stats_scipy.py
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(test_stats_scipy PROPERTIES LABELS "oracle;proxy" SKIP_RETURN_CODE 77 TIMEOUT 120)
# Oracle test of the seed-noise statistics (noise ceiling, permutation p-values) against SciPy.
add_test(NAME test_noise_scipy
         COMMAND test_noise --oracle ${PS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/proxy/noise_scipy.py
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(test_noise_scipy PROPERTIES LABELS "oracle;proxy" SKIP_RETURN_CODE 77 TIMEOUT 300)
