#include "backup/archive.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace privstack::backup {
namespace {

using Bytes = std::vector<std::uint8_t>;

struct Keys {
  RecoveryKeyPair pair = generate_recovery_key();
  Bytes pub = parse_recovery_public_key(pair.public_pem);
  Bytes priv = parse_recovery_private_key(pair.private_pem);
};

const Keys& keys() {
  static Keys k;
  return k;
}

ArchiveMetadata metadata() {
  ArchiveMetadata m;
  m.created_unix = 1763780400;
  m.source_host = "appliance-1";
  m.schema_version = 7;
  m.row_counts = {{"users", 3}, {"records", 12345}};
  return m;
}

// Payload that compresses somewhat but not entirely (so several chunks).
std::string payload(std::size_t bytes, unsigned seed = 1) {
  std::mt19937 rng(seed);
  std::string out;
  out.reserve(bytes);
  while (out.size() < bytes) {
    out += "INSERT INTO records VALUES(" + std::to_string(rng()) + ",'" + std::to_string(rng()) + "," +
           std::to_string(rng()) + "');\n";
  }
  out.resize(bytes);
  return out;
}

Bytes make_archive(const std::string& plain, const Bytes& pub, WriterOptions options = {}) {
  Bytes out;
  ArchiveWriter w([&](std::span<const std::uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); }, pub,
                  metadata(), options);
  // Feed in odd-sized pieces.
  std::size_t pos = 0, step = 1;
  while (pos < plain.size()) {
    std::size_t n = std::min(step, plain.size() - pos);
    w.write(std::string_view(plain).substr(pos, n));
    pos += n;
    step = step * 3 + 7;
    if (step > 300000) step = 13;
  }
  w.finish();
  EXPECT_EQ(w.bytes_out(), out.size());
  return out;
}

std::string read_all(const Bytes& archive, const Bytes& priv, std::size_t buf_size = 4096) {
  ArchiveReader r(memory_source(archive), priv);
  std::string out;
  std::vector<std::uint8_t> buf(buf_size);
  while (std::size_t n = r.read(buf)) out.append(reinterpret_cast<const char*>(buf.data()), n);
  return out;
}

std::string refusal(const Bytes& archive, const Bytes& priv) {
  try {
    read_all(archive, priv);
  } catch (const ArchiveError& e) {
    return e.what();
  }
  return "";
}

// Offsets of each chunk frame (after the header).
std::vector<std::size_t> chunk_offsets(const Bytes& a) {
  std::size_t json_len = (std::size_t{a[12]} << 24) | (std::size_t{a[13]} << 16) | (std::size_t{a[14]} << 8) | a[15];
  std::vector<std::size_t> offs;
  std::size_t pos = 16 + json_len;
  while (pos < a.size()) {
    offs.push_back(pos);
    std::size_t len = (std::size_t{a[pos]} << 24) | (std::size_t{a[pos + 1]} << 16) | (std::size_t{a[pos + 2]} << 8) |
                      a[pos + 3];
    pos += 5 + len + 16;
  }
  EXPECT_EQ(pos, a.size());
  return offs;
}

TEST(RecoveryKey, PemRoundTripAndBase64Form) {
  const Keys& k = keys();
  EXPECT_NE(k.pair.private_pem.find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
  EXPECT_NE(k.pair.public_pem.find("-----BEGIN PUBLIC KEY-----"), std::string::npos);
  EXPECT_EQ(k.pub.size(), 32u);
  EXPECT_EQ(recovery_public_from_private(k.priv), k.pub);
  // Base64 of the raw 32 bytes is accepted too.
  static const char* b64 = "ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7v8=";
  EXPECT_EQ(parse_recovery_public_key(b64).size(), 32u);
  EXPECT_THROW(parse_recovery_public_key("not a key"), ArchiveError);
  EXPECT_THROW(parse_recovery_private_key(k.pair.public_pem), ArchiveError);
  EXPECT_EQ(recovery_key_id(k.pub).size(), 16u);
}

TEST(Archive, RoundTripSeveralChunks) {
  std::string plain = payload(3 * 1024 * 1024 + 17);
  Bytes a = make_archive(plain, keys().pub, {.chunk_size = kMinChunkSize, .zstd_level = 1});
  EXPECT_GT(chunk_offsets(a).size(), 3u);
  EXPECT_LT(a.size(), plain.size());  // it compressed
  ArchiveReader r(memory_source(a), keys().priv);
  EXPECT_EQ(r.header().metadata.source_host, "appliance-1");
  EXPECT_EQ(r.header().metadata.schema_version, 7);
  EXPECT_EQ(r.header().metadata.row_counts.at("records"), 12345);
  EXPECT_EQ(r.header().compression, "zstd");
  EXPECT_EQ(r.header().cipher, "AES-256-GCM");
  EXPECT_EQ(r.header().recovery_key_id, recovery_key_id(keys().pub));
  std::string out;
  std::vector<std::uint8_t> buf(1000);
  while (std::size_t n = r.read(buf)) out.append(reinterpret_cast<const char*>(buf.data()), n);
  EXPECT_EQ(out, plain);
  EXPECT_EQ(r.trailer().payload_bytes, plain.size());
  EXPECT_EQ(r.read(buf), 0u);  // stays at the end
}

// Compression in background threads (the default) splits the payload into
// 1 MiB zstd jobs; a payload of several jobs must read back byte for byte
// whether zstd ran inline, in one worker or in two.
TEST(Archive, RoundTripWithAndWithoutCompressionThreads) {
  std::string plain = payload(5 * 1024 * 1024 + 333, 9);
  std::vector<std::size_t> sizes;
  for (int workers : {0, 1, 2}) {
    Bytes a = make_archive(plain, keys().pub, {.chunk_size = kDefaultChunkSize, .zstd_level = 3, .zstd_workers = workers});
    EXPECT_EQ(read_all(a, keys().priv, 65536), plain) << workers;
    sizes.push_back(a.size());
  }
  // Independent jobs lose a little context at their edges, not more.
  EXPECT_LT(sizes[1], plain.size() / 2);
  EXPECT_LT(static_cast<double>(sizes[1]), static_cast<double>(sizes[0]) * 1.05);
}

TEST(Archive, RoundTripEmptyAndTinyPayloadsAndLargeBuffers) {
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{65536}, std::size_t{1 << 20}}) {
    std::string plain = payload(size, static_cast<unsigned>(size));
    Bytes a = make_archive(plain, keys().pub, {.chunk_size = kMaxChunkSize});
    for (std::size_t buf : {std::size_t{1 << 20}, std::size_t{1}, std::size_t{4096}}) {
      try {
        EXPECT_EQ(read_all(a, keys().priv, buf), plain) << size << " " << buf;
      } catch (const std::exception& e) {
        ADD_FAILURE() << size << " " << buf << ": " << e.what();
      }
    }
  }
}

TEST(Archive, IncompressibleDataAndFreshKeysPerArchive) {
  std::string plain(500000, '\0');
  std::mt19937 rng(7);
  for (auto& c : plain) c = static_cast<char>(rng());
  Bytes a = make_archive(plain, keys().pub);
  Bytes b = make_archive(plain, keys().pub);
  EXPECT_EQ(read_all(a, keys().priv), plain);
  EXPECT_NE(a, b);  // fresh data key, ephemeral key and archive id each time
  ArchiveHeader ha = read_archive_header(memory_source(a));
  ArchiveHeader hb = read_archive_header(memory_source(b));
  EXPECT_NE(ha.archive_id, hb.archive_id);
  EXPECT_NE(ha.wrapped_key, hb.wrapped_key);
}

TEST(Archive, HeaderReadableWithoutKeyAndPlaintextNotVisible) {
  std::string plain = "CREATE TABLE secrets(x); INSERT INTO secrets VALUES('very secret value');";
  Bytes a = make_archive(plain, keys().pub);
  ArchiveHeader h = read_archive_header(memory_source(a));
  EXPECT_EQ(h.metadata.created_unix, 1763780400);
  EXPECT_EQ(h.chunk_size, kDefaultChunkSize);
  std::string text(a.begin(), a.end());
  EXPECT_EQ(text.find("very secret value"), std::string::npos);
  EXPECT_EQ(text.find("INSERT INTO"), std::string::npos);
}

TEST(Archive, WrongKeyRefused) {
  Bytes a = make_archive(payload(100000), keys().pub);
  Keys other;
  std::string err = refusal(a, other.priv);
  EXPECT_NE(err.find("wrong recovery key"), std::string::npos) << err;
}

TEST(Archive, BadMagicAndWrongVersionRefused) {
  Bytes a = make_archive(payload(1000), keys().pub);
  Bytes bad = a;
  bad[0] = 'X';
  EXPECT_NE(refusal(bad, keys().priv).find("bad magic"), std::string::npos);
  bad = a;
  bad[8] = 2;
  EXPECT_NE(refusal(bad, keys().priv).find("version 2 is not supported"), std::string::npos);
  EXPECT_NE(refusal({}, keys().priv).find("bad magic"), std::string::npos);
}

TEST(Archive, HeaderTamperingRefused) {
  Bytes a = make_archive(payload(200000), keys().pub);
  // Change the host name in the JSON header (same length): chunks are bound to
  // the header's hash.
  std::string text(a.begin(), a.end());
  auto at = text.find("appliance-1");
  ASSERT_NE(at, std::string::npos);
  Bytes bad = a;
  bad[at + 10] = '2';
  std::string err = refusal(bad, keys().priv);
  EXPECT_NE(err.find("chunk 0 failed authentication"), std::string::npos) << err;
  // Break the JSON itself.
  bad = a;
  bad[16] = '[';
  err = refusal(bad, keys().priv);
  EXPECT_NE(err.find("corrupted"), std::string::npos) << err;
}

// A header whose creation time cannot be a date (found by the backup_archive
// fuzz target: a huge "created" without "created_ms" overflowed the
// multiplication into milliseconds) is refused as corrupted, not computed on.
TEST(Archive, ImpossibleCreationTimesRefused) {
  const Bytes a = make_archive(payload(1000), keys().pub);
  const std::size_t fixed = 16;  // magic, version, flags, JSON length
  const std::uint32_t json_len = (std::uint32_t{a[12]} << 24) | (std::uint32_t{a[13]} << 16) |
                                 (std::uint32_t{a[14]} << 8) | std::uint32_t{a[15]};
  const std::string header(a.begin() + fixed, a.begin() + fixed + json_len);
  auto with_header = [&](const std::string& json) {
    Bytes b = a;
    const auto n = static_cast<std::uint32_t>(json.size());
    b[12] = static_cast<std::uint8_t>(n >> 24);
    b[13] = static_cast<std::uint8_t>(n >> 16);
    b[14] = static_cast<std::uint8_t>(n >> 8);
    b[15] = static_cast<std::uint8_t>(n);
    b.erase(b.begin() + fixed, b.begin() + fixed + json_len);
    b.insert(b.begin() + fixed, json.begin(), json.end());
    return b;
  };
  auto replace = [&](std::string text, const std::string& from, const std::string& to) {
    auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    return text;
  };
  // The rewriting itself is sound: the unchanged header still reads.
  EXPECT_EQ(read_archive_header(memory_source(with_header(header))).metadata.created_unix, 1763780400);

  const std::string no_ms = replace(header, "\"created_ms\"", "\"created_xx\"");
  for (const char* created : {"176721767225600001", "-1", "9223372036854775807", "253402300800"}) {
    const Bytes bad = with_header(replace(no_ms, "\"created\":1763780400", std::string("\"created\":") + created));
    std::string err;
    try {
      read_archive_header(memory_source(bad));
    } catch (const ArchiveError& e) {
      err = e.what();
    }
    EXPECT_NE(err.find("impossible creation time"), std::string::npos) << created << ": " << err;
  }
  // Replace created_ms's whole number, whatever the writer put there.
  std::string huge_ms_header = header;
  const auto ms_at = huge_ms_header.find("\"created_ms\":");
  ASSERT_NE(ms_at, std::string::npos);
  const auto value_at = ms_at + std::strlen("\"created_ms\":");
  const auto value_end = huge_ms_header.find_first_not_of("-0123456789", value_at);
  huge_ms_header.replace(value_at, value_end - value_at, "9223372036854775807");
  const Bytes huge_ms = with_header(huge_ms_header);
  std::string err;
  try {
    read_archive_header(memory_source(huge_ms));
  } catch (const ArchiveError& e) {
    err = e.what();
  }
  EXPECT_NE(err.find("impossible creation time"), std::string::npos) << err;
}

TEST(Archive, EveryCorruptedByteRefused) {
  Bytes a = make_archive(payload(150000), keys().pub, {.chunk_size = kMinChunkSize});
  auto offs = chunk_offsets(a);
  // A byte in each chunk's ciphertext, tag, length and flags.
  std::vector<std::size_t> positions;
  for (std::size_t i = 0; i < offs.size(); ++i) {
    std::size_t end = i + 1 < offs.size() ? offs[i + 1] : a.size();
    positions.insert(positions.end(), {offs[i] + 3, offs[i] + 4, offs[i] + 5, (offs[i] + end) / 2, end - 1});
  }
  for (std::size_t p : positions) {
    Bytes bad = a;
    bad[p] ^= 0x40;
    std::string err = refusal(bad, keys().priv);
    EXPECT_FALSE(err.empty()) << "flipped byte at " << p << " went unnoticed";
  }
}

TEST(Archive, TruncationRefusedAtEveryBoundary) {
  Bytes a = make_archive(payload(800000), keys().pub, {.chunk_size = kMinChunkSize});
  auto offs = chunk_offsets(a);
  // Cut exactly at each chunk boundary (the nasty case: the file looks whole).
  for (std::size_t i = 1; i < offs.size(); ++i) {
    Bytes cut(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(offs[i]));
    std::string err = refusal(cut, keys().priv);
    EXPECT_NE(err.find("without its final chunk"), std::string::npos) << i << ": " << err;
  }
  // Cut inside a chunk and inside the header.
  Bytes cut(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(offs[1] + 100));
  EXPECT_NE(refusal(cut, keys().priv).find("truncated inside chunk 1"), std::string::npos);
  cut.assign(a.begin(), a.begin() + 40);
  EXPECT_NE(refusal(cut, keys().priv).find("truncated inside its header"), std::string::npos);
  // Dropping the final chunk but keeping everything else.
  cut.assign(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(offs.back()));
  EXPECT_NE(refusal(cut, keys().priv).find("without its final chunk"), std::string::npos);
}

TEST(Archive, ReorderedChunksRefused) {
  Bytes a = make_archive(payload(800000), keys().pub, {.chunk_size = kMinChunkSize});
  auto offs = chunk_offsets(a);
  ASSERT_GE(offs.size(), 4u);
  // Swap chunks 1 and 2 (both full-size, so the framing stays intact).
  std::size_t len1 = offs[2] - offs[1], len2 = offs[3] - offs[2];
  ASSERT_EQ(len1, len2);
  Bytes bad(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(offs[1]));
  bad.insert(bad.end(), a.begin() + static_cast<std::ptrdiff_t>(offs[2]), a.begin() + static_cast<std::ptrdiff_t>(offs[3]));
  bad.insert(bad.end(), a.begin() + static_cast<std::ptrdiff_t>(offs[1]), a.begin() + static_cast<std::ptrdiff_t>(offs[2]));
  bad.insert(bad.end(), a.begin() + static_cast<std::ptrdiff_t>(offs[3]), a.end());
  ASSERT_EQ(bad.size(), a.size());
  std::string err = refusal(bad, keys().priv);
  EXPECT_NE(err.find("chunk 1 failed authentication"), std::string::npos) << err;
  // A duplicated chunk.
  Bytes dup(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(offs[2]));
  dup.insert(dup.end(), a.begin() + static_cast<std::ptrdiff_t>(offs[1]), a.end());
  err = refusal(dup, keys().priv);
  EXPECT_NE(err.find("chunk 2 failed authentication"), std::string::npos) << err;
}

TEST(Archive, SplicedArchivesRefused) {
  std::string plain = payload(800000);
  Bytes a = make_archive(plain, keys().pub, {.chunk_size = kMinChunkSize});
  Bytes b = make_archive(plain, keys().pub, {.chunk_size = kMinChunkSize});
  auto oa = chunk_offsets(a), ob = chunk_offsets(b);
  // a's header and first chunk, then b's chunks from 1 on.
  Bytes spliced(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(oa[1]));
  spliced.insert(spliced.end(), b.begin() + static_cast<std::ptrdiff_t>(ob[1]), b.end());
  std::string err = refusal(spliced, keys().priv);
  EXPECT_NE(err.find("chunk 1 failed authentication"), std::string::npos) << err;
  // b's header on a's chunks.
  Bytes swapped(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(ob[0]));
  swapped.insert(swapped.end(), a.begin() + static_cast<std::ptrdiff_t>(oa[0]), a.end());
  err = refusal(swapped, keys().priv);
  EXPECT_NE(err.find("chunk 0 failed authentication"), std::string::npos) << err;
  // Anything appended after the final chunk.
  Bytes appended = a;
  appended.insert(appended.end(), b.begin() + static_cast<std::ptrdiff_t>(ob[1]), b.end());
  err = refusal(appended, keys().priv);
  EXPECT_NE(err.find("after the final chunk"), std::string::npos) << err;
}

// The daemon's test restore at creation: the finished writer (which still
// holds the data key) reads its own archive back, and only that archive.
TEST(Archive, WriterReadsBackItsOwnArchiveOnly) {
  const std::string plain = payload(700 * 1024, 5);
  Bytes out;
  ArchiveWriter w([&](std::span<const std::uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); }, keys().pub,
                  metadata());
  w.write(plain);
  EXPECT_THROW(ArchiveReader(memory_source(out), w), ArchiveError);  // not finished yet
  w.finish();
  {
    ArchiveReader r(memory_source(out), w);
    std::string back;
    std::vector<std::uint8_t> buf(8192);
    while (std::size_t n = r.read(buf)) back.append(reinterpret_cast<const char*>(buf.data()), n);
    EXPECT_EQ(back, plain);
    EXPECT_EQ(r.header().archive_id, w.header().archive_id);
  }
  // A flipped byte in a chunk fails authentication under the writer's key too.
  Bytes damaged = out;
  damaged[chunk_offsets(out)[1] + 20] ^= 0x01;
  try {
    ArchiveReader r(memory_source(damaged), w);
    std::vector<std::uint8_t> buf(8192);
    while (r.read(buf) != 0) {
    }
    ADD_FAILURE() << "a damaged archive read back without error";
  } catch (const ArchiveError& e) {
    EXPECT_NE(std::string(e.what()).find("failed authentication"), std::string::npos) << e.what();
  }
  // Another archive (same recovery key) is not this writer's.
  Bytes other = make_archive(plain, keys().pub);
  try {
    ArchiveReader r(memory_source(other), w);
    ADD_FAILURE() << "another archive was accepted";
  } catch (const ArchiveError& e) {
    EXPECT_NE(std::string(e.what()).find("not the one just written"), std::string::npos) << e.what();
  }
}

TEST(Archive, OptionsValidated) {
  Bytes out;
  auto sink = [&](std::span<const std::uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); };
  EXPECT_THROW(ArchiveWriter(sink, keys().pub, metadata(), {.chunk_size = 1000}), ArchiveError);
  EXPECT_THROW(ArchiveWriter(sink, keys().pub, metadata(), {.chunk_size = 2 << 20}), ArchiveError);
  Bytes short_key(31, 1);
  EXPECT_THROW(ArchiveWriter(sink, short_key, metadata()), ArchiveError);
  ArchiveWriter w(sink, keys().pub, metadata());
  w.finish();
  EXPECT_THROW(w.write(std::string_view("late")), ArchiveError);
  EXPECT_THROW(w.finish(), ArchiveError);
}

TEST(Archive, FileSinkAndSource) {
  std::string plain = payload(200000);
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    ArchiveWriter w(file_sink(f), keys().pub, metadata());
    w.write(plain);
    w.finish();
  }
  std::rewind(f);
  ArchiveReader r(file_source(f), keys().priv);
  std::string out;
  std::vector<std::uint8_t> buf(70000);
  while (std::size_t n = r.read(buf)) out.append(reinterpret_cast<const char*>(buf.data()), n);
  std::fclose(f);
  EXPECT_EQ(out, plain);
}

}  // namespace
}  // namespace privstack::backup
