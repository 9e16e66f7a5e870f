#pragma once
#if SIM_IDF_MINOR < 3
#error "driver/usb_serial_jtag_vfs.h exists from ESP-IDF v5.3"
#endif
void usb_serial_jtag_vfs_use_driver(void);
