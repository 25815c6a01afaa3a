/* The wsd CLI: one file per subcommand, each exporting `int cmd_NAME(int argc, char **argv)`
 * where argv[0] is the subcommand name. Exit codes: 0 success, 1 the run failed,
 * 2 bad usage or parameters. */
#ifndef WSD_CLI_COMMANDS_H
#define WSD_CLI_COMMANDS_H

int cmd_generate(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_tune(int argc, char **argv); /* WebGPU kernel tuning (src/backends/webgpu) */

#endif
