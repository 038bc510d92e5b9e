// Helper for tests/integration/test_backup*.py.
//   backup_testtool retention DAILY WEEKLY MONTHLY
//     stdin: one "ID UNIX_SECONDS" per line; stdout: the kept IDs, newest first.
#include <iostream>
#include <sstream>
#include <string>

#include "backup/retention.h"

int main(int argc, char** argv) {
  using namespace privstack::backup;
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "retention" && argc == 5) {
    RetentionPolicy policy{std::stoi(argv[2]), std::stoi(argv[3]), std::stoi(argv[4])};
    std::vector<RetentionItem> items;
    std::string id;
    long long t = 0;
    while (std::cin >> id >> t) items.push_back({id, t, true});
    for (const auto& kept : plan_retention(items, policy).keep_ids()) std::cout << kept << "\n";
    return 0;
  }
  std::cerr << "usage: backup_testtool retention DAILY WEEKLY MONTHLY < items\n";
  return 2;
}
