# CLI end-to-end checks that need no helper program: exit status and error text of the
# `specopt` binary. Included from tests/CMakeLists.txt when the specopt_cli target exists.
# (The .npy round trips and bench JSON checks are GoogleTests in tests/cli/test_cli.cpp.)
if(TARGET specopt_cli)
  add_test(NAME cli.version COMMAND specopt_cli --version)
  set_tests_properties(cli.version PROPERTIES
    PASS_REGULAR_EXPRESSION "^specopt [0-9]+\\.[0-9]+\\.[0-9]+ \\([^)]*\\), LibTorch [0-9]")

  add_test(NAME cli.help COMMAND specopt_cli --help)
  set_tests_properties(cli.help PROPERTIES PASS_REGULAR_EXPRESSION "matfun.*bench")

  # No subcommand: help on stderr, exit status 2.
  add_test(NAME cli.no_subcommand COMMAND specopt_cli)
  set_tests_properties(cli.no_subcommand PROPERTIES WILL_FAIL TRUE)

  add_test(NAME cli.unknown_flag COMMAND specopt_cli --bogus)
  set_tests_properties(cli.unknown_flag PROPERTIES
    PASS_REGULAR_EXPRESSION "^specopt: error: [^\n]*--bogus[^\n]*\n?$")
  add_test(NAME cli.unknown_flag_fails COMMAND specopt_cli --bogus)
  set_tests_properties(cli.unknown_flag_fails PROPERTIES WILL_FAIL TRUE)

  add_test(NAME cli.bad_shape COMMAND specopt_cli bench matfun --shapes 12y4)
  set_tests_properties(cli.bad_shape PROPERTIES
    PASS_REGULAR_EXPRESSION "^specopt: error: [^\n]*invalid shape '12y4'[^\n]*\n?$")

  add_test(NAME cli.zero_shape COMMAND specopt_cli bench matfun --shapes 0x5)
  set_tests_properties(cli.zero_shape PROPERTIES
    PASS_REGULAR_EXPRESSION "^specopt: error: [^\n]*invalid shape '0x5'[^\n]*\n?$")

  add_test(NAME cli.missing_input COMMAND specopt_cli matfun polar
           --in ${CMAKE_CURRENT_BINARY_DIR}/does_not_exist.npy
           --out ${CMAKE_CURRENT_BINARY_DIR}/never_written.npy)
  set_tests_properties(cli.missing_input PROPERTIES
    PASS_REGULAR_EXPRESSION "^specopt: error: npy file '[^']*does_not_exist.npy': no such file\n?$")
endif()
