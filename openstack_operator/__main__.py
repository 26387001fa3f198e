import sys

from openstack_operator.cli import main

sys.exit(main())
