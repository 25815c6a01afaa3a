#include "commands.h"

#include <stdio.h>

int cmd_tokenize(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wsd tokenize: not implemented yet\n");
    return 1;
}
