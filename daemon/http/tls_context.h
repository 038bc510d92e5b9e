// Internal to daemon/http: the Asio SSL context behind TlsContext.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include "http/tls.h"

namespace privstack::http {

class TlsContext {
 public:
  TlsContext() : ssl(boost::asio::ssl::context::tls_server) {}
  boost::asio::ssl::context ssl;
  CertificateInfo info;
};

}  // namespace privstack::http
