#include "backends/cpu/isa.h"
const cpu_isa *cpu_isa_wasm(void) { return 0; }
