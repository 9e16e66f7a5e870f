#pragma once
#if SIM_IDF_MINOR < 3
#error "driver/uart_vfs.h exists from ESP-IDF v5.3"
#endif
void uart_vfs_dev_use_driver(int uart_num);
