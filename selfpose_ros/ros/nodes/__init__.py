"""One module per ROS 2 node; each exposes ``main()``."""
