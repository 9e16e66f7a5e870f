// ESP-IDF v5.1/v5.2 names of the VFS console switches (deprecated in v5.3, gone in v6.0).
#pragma once
#if SIM_IDF_MINOR >= 3
#error "the sim builds the v5.1 names only for SIM_IDF_MINOR < 3"
#endif
void esp_vfs_dev_uart_use_driver(int uart_num);
void esp_vfs_usb_serial_jtag_use_driver(void);
