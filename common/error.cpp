#include "common/error.hpp"

#include <cstring>

namespace husk {

std::string Error::message() const
{
    if (m_errno == 0)
        return m_what;
    return m_what + ": " + std::strerror(m_errno);
}

} // namespace husk
