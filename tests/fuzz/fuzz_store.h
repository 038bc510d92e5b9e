// A real encrypted store for the fuzz targets that need one, created once per
// process in a fresh directory (on /dev/shm when there is one: the store's
// fsyncs would otherwise set the pace) and removed at exit.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "store/store.h"

namespace privstack::fuzz {

struct FuzzStore {
  std::filesystem::path dir;
  std::unique_ptr<store::Store> store;
};

inline FuzzStore& fuzz_store() {
  static FuzzStore s = [] {
    std::filesystem::path base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string tmpl = (base / "privstack-fuzz-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) std::abort();
    FuzzStore fs;
    fs.dir = tmpl;
    store::init_key_file(fs.dir / "store.key");
    store::Options o;
    o.database = fs.dir / "privstack.db";
    o.key = {fs.dir / "store.key", false};
    fs.store = store::Store::open(o);
    return fs;
  }();
  static const bool cleanup_registered = [] {
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(s.dir, ignored);
    });
    return true;
  }();
  (void)cleanup_registered;
  return s;
}

}  // namespace privstack::fuzz
