// privstackctl's command table (daemon/ctl/commands.cpp).
#pragma once

#include <vector>

#include "ctl/command_line.h"

namespace privstack::ctl {

// Every command, in the order `privstackctl --help` lists them.
std::vector<Command> commands();

}  // namespace privstack::ctl
