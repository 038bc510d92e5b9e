// The parsers of the S3 server's XML answers (daemon/backup/s3_client.cpp):
// the server is not trusted, so any answer may only ever yield data or an
// S3Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "backup/s3_client.h"

using namespace privstack::backup;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string xml(reinterpret_cast<const char*>(data), size);
  try {
    parse_list_objects(xml);
  } catch (const S3Error&) {
  }
  try {
    parse_list_parts(xml);
  } catch (const S3Error&) {
  }
  parse_multipart_uploads(xml);
  parse_error_body(xml);
  xml_values(xml, "UploadId");
  return 0;
}
