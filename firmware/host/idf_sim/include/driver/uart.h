// uart_read_bytes as ESP-IDF implements it (components/esp_driver_uart/src/uart.c): it keeps
// receiving until `length` bytes were copied or a wait of ticks_to_wait found nothing.
#pragma once
#include <cstddef>
#include <cstdint>
#include "esp_err.h"
#include "freertos/FreeRTOS.h"
typedef int uart_port_t;
typedef int QueueHandle_t_sim;
esp_err_t uart_driver_install(uart_port_t, int rx, int tx, int queue, void* q, int flags);
esp_err_t uart_set_baudrate(uart_port_t, uint32_t baud);
int uart_read_bytes(uart_port_t, void* buf, uint32_t length, TickType_t ticks_to_wait);
int uart_write_bytes(uart_port_t, const void* src, size_t size);
esp_err_t uart_wait_tx_done(uart_port_t, TickType_t);
esp_err_t uart_get_buffered_data_len(uart_port_t, size_t* size);
