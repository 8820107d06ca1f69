#include "common/name_services.hpp"

#include "sa_build_config.h"

#include <nss.h>

#include <initializer_list>

namespace sa {

void pin_builtin_name_services() {
#if SA_PORTABLE
    for (const char* db : {"passwd", "group", "initgroups", "shadow"}) __nss_configure_lookup(db, "files");
    __nss_configure_lookup("hosts", "files dns");
#endif
}

}  // namespace sa
