// The process-wide libsecp256k1 context (created and randomized once).
#pragma once

#include <secp256k1.h>

namespace privstack::wallet {

// Safe to use from several threads for signing/verification/tweaks (the
// context is never modified after creation).
const secp256k1_context* secp_context();

}  // namespace privstack::wallet
