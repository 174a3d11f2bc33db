/* otb-boxconf: the box's firewall and routing plan from its JSON config. */
#ifndef OTB_BOXCONF_H
#define OTB_BOXCONF_H

#include "otb_fwplan.h"

/* Reads the WANs' addresses, link state and default routes. 0 or -errno. */
int otb_boxconf_facts(const struct otb_policy *p, struct otb_fw_facts *f);

#endif
