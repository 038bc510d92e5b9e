// Helper for tests/integration/test_backup*.py.
//   backup_testtool retention DAILY WEEKLY MONTHLY [KEEP_LAST]   (KEEP_LAST: 0 when omitted)
//     stdin: one "ID UNIX_SECONDS" per line; stdout: the kept IDs, newest first.
//   backup_testtool keygen PRIVATE_PEM PUBLIC_PEM
//   backup_testtool archive-write PUBLIC_PEM IN OUT       (payload file -> archive)
//   backup_testtool archive-read PRIVATE_PEM IN OUT       (archive -> payload; OUT only on success)
//   backup_testtool s3 mb | put KEY FILE | upload KEY FILE [PART_MIB] | get KEY FILE | head KEY
//                      | list PREFIX | delete KEY | uploads PREFIX | start-upload KEY (left open)
//     S3 settings from S3_ENDPOINT, S3_BUCKET, S3_REGION (us-east-1), S3_ALLOWED_REGIONS
//     (comma list), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, S3_MAX_ATTEMPTS.
// Errors: message on stderr, exit 1.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "backup/archive.h"
#include "backup/retention.h"
#include "backup/s3_client.h"

namespace {

using namespace privstack::backup;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out << data;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string env(const char* name, const char* fallback = "") {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

S3Config s3_config() {
  S3Config c;
  c.endpoint = env("S3_ENDPOINT");
  c.bucket = env("S3_BUCKET", "privstack-test");
  c.region = env("S3_REGION", "us-east-1");
  c.credentials = {env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), ""};
  c.max_attempts = std::stoi(env("S3_MAX_ATTEMPTS", "5"));
  c.base_backoff = std::chrono::milliseconds(std::stoi(env("S3_BACKOFF_MS", "200")));
  c.lock_mode = env("S3_LOCK_MODE", "COMPLIANCE");
  c.lock_retain_days = std::stoi(env("S3_LOCK_DAYS", "0"));
  std::string allowed = env("S3_ALLOWED_REGIONS");
  std::stringstream ss(allowed);
  for (std::string r; std::getline(ss, r, ',');)
    if (!r.empty()) c.allowed_regions.push_back(r);
  return c;
}

std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

int s3(int argc, char** argv) {
  std::string cmd = argc > 2 ? argv[2] : "";
  S3Client client(s3_config());
  if (cmd == "mb") {
    auto r = client.request("PUT", "", {}, {});
    std::cout << r.status << "\n";
    return r.status == 200 || r.status == 409 ? 0 : 1;
  }
  if (cmd == "put" && argc == 5) {
    client.put_object(argv[3], bytes(slurp(argv[4])));
    return 0;
  }
  if (cmd == "upload" && argc >= 5) {
    std::size_t part = argc > 5 ? std::stoul(argv[5]) * 1024 * 1024 : 8 * 1024 * 1024;
    std::FILE* f = std::fopen(argv[4], "rb");
    if (!f) throw std::runtime_error(std::string("cannot read ") + argv[4]);
    S3StreamUpload up(client, argv[3], part);
    std::vector<std::uint8_t> buf(1 << 20);
    while (std::size_t n = std::fread(buf.data(), 1, buf.size(), f)) up.write(std::span(buf.data(), n));
    std::fclose(f);
    std::cout << up.finish() << "\n";
    return 0;
  }
  if (cmd == "get" && argc == 5) {
    std::ofstream out(argv[4], std::ios::binary);
    client.get_object(argv[3], [&](std::span<const std::uint8_t> b) {
      out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    });
    return out ? 0 : 1;
  }
  if (cmd == "head" && argc == 4) {
    auto h = client.head_object(argv[3]);
    if (!h) {
      std::cout << "missing\n";
      return 1;
    }
    std::cout << h->size << " " << h->etag << "\n";
    return 0;
  }
  if (cmd == "list" && argc == 4) {
    for (const auto& o : client.list_objects(argv[3])) std::cout << o.key << " " << o.size << " " << o.etag << "\n";
    return 0;
  }
  if (cmd == "start-upload" && argc == 4) {  // one part, never completed: what a crash leaves
    std::string id = client.create_multipart_upload(argv[3]);
    std::vector<std::uint8_t> part(5 * 1024 * 1024, 0x5a);
    client.upload_part(argv[3], id, 1, part);
    std::cout << id << "\n";
    return 0;
  }
  if (cmd == "uploads" && argc == 4) {
    for (const auto& [k, id] : client.list_multipart_uploads(argv[3])) std::cout << k << " " << id << "\n";
    return 0;
  }
  if (cmd == "delete" && argc == 4) {
    client.delete_object(argv[3]);
    return 0;
  }
  std::cerr << "bad s3 command\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "retention" && (argc == 5 || argc == 6)) {
    RetentionPolicy policy{std::stoi(argv[2]), std::stoi(argv[3]), std::stoi(argv[4]),
                           argc == 6 ? std::stoi(argv[5]) : 0};
    std::vector<RetentionItem> items;
    std::string id;
    long long t = 0;
    while (std::cin >> id >> t) items.push_back({id, t, true});
    for (const auto& kept : plan_retention(items, policy).keep_ids()) std::cout << kept << "\n";
    return 0;
  }
  if (cmd == "keygen" && argc == 4) {
    auto pair = generate_recovery_key();
    spit(argv[2], pair.private_pem);
    spit(argv[3], pair.public_pem);
    return 0;
  }
  if (cmd == "archive-write" && argc == 5) {
    auto pub = parse_recovery_public_key(slurp(argv[2]));
    std::FILE* in = std::fopen(argv[3], "rb");
    std::FILE* out = std::fopen(argv[4], "wb");
    if (!in || !out) throw std::runtime_error("cannot open files");
    ArchiveMetadata m;
    m.created_unix = std::time(nullptr);
    m.source_host = "testtool";
    ArchiveWriter w(file_sink(out), pub, m);
    std::vector<std::uint8_t> buf(1 << 20);
    while (std::size_t n = std::fread(buf.data(), 1, buf.size(), in)) w.write(std::span(buf.data(), n));
    w.finish();
    std::fclose(in);
    if (std::fclose(out) != 0) throw std::runtime_error("write failed");
    return 0;
  }
  if (cmd == "archive-read" && argc == 5) {
    auto priv = parse_recovery_private_key(slurp(argv[2]));
    std::FILE* in = std::fopen(argv[3], "rb");
    if (!in) throw std::runtime_error("cannot open the archive");
    std::string tmp = std::string(argv[4]) + ".partial";
    std::FILE* out = std::fopen(tmp.c_str(), "wb");
    try {
      ArchiveReader r(file_source(in), priv);
      std::vector<std::uint8_t> buf(1 << 20);
      while (std::size_t n = r.read(buf)) std::fwrite(buf.data(), 1, n, out);
    } catch (...) {
      std::fclose(out);
      std::remove(tmp.c_str());
      throw;
    }
    std::fclose(in);
    std::fclose(out);
    std::rename(tmp.c_str(), argv[4]);
    return 0;
  }
  if (cmd == "s3") return s3(argc, argv);
  std::cerr << "usage: see tests/integration/helpers/backup_testtool.cpp\n";
  return 2;
} catch (const std::exception& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
