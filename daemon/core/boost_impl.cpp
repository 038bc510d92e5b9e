// Compiles Asio and Beast once for the whole program (library privstack_asio)
// (BOOST_ASIO_SEPARATE_COMPILATION / BOOST_BEAST_SEPARATE_COMPILATION are
// set for every target that links privstack_http): this keeps a clean build
// well inside its time budget on two cores.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
