# holdback on the Xilinx KCU105 (XCKU040-2FFVA1156E), constraints for
# holdback_kcu105_top.v. UNTESTED ON HARDWARE.
#
# Sources: pin numbers were taken from a public board description of the
# KCU105 (LiteX's kcu105 platform), which follows the Xilinx KCU105 user
# guide (UG917) and board schematics; they were NOT re-checked against UG917
# itself or the Vivado board file (no Vivado, no board here). Lines marked
# [UNVERIFIED] also depend on a behaviour we could not confirm. Before a first
# build, compare with UG917 / `get_board_part_interfaces` of
# xilinx.com:kcu105:part0.

# ---------------------------------------------------------------- device ----
set_property CONFIG_VOLTAGE 1.8 [current_design]
set_property CFGBVS GND [current_design]
set_property BITSTREAM.GENERAL.COMPRESS TRUE [current_design]
# A PCIe endpoint should be configured within ~100 ms of power-up when loaded
# from flash; fast SPI x4 config keeps that. (JTAG loads via `holdback load`
# are followed by a bus rescan and do not depend on it.)
set_property BITSTREAM.CONFIG.CONFIGRATE 51.0 [current_design]
set_property BITSTREAM.CONFIG.SPI_BUSWIDTH 4 [current_design]

# ------------------------------------------------------------------ PCIe ----
# Edge connector reference clock (100 MHz from the host), MGTREFCLK0 of the
# PCIe quad. GT reference clock pins take no IOSTANDARD.
set_property PACKAGE_PIN AB6 [get_ports pcie_refclk_p]
set_property PACKAGE_PIN AB5 [get_ports pcie_refclk_n]
create_clock -name pcie_refclk -period 10.000 [get_ports pcie_refclk_p]

# PERST# from the slot (1.8 V bank, level-shifted on the board).
set_property PACKAGE_PIN K22 [get_ports pcie_perst_n]
set_property IOSTANDARD LVCMOS18 [get_ports pcie_perst_n]
set_property PULLUP true [get_ports pcie_perst_n]
set_false_path -from [get_ports pcie_perst_n]

# Lanes 0..7. The PCIe bridge IP places its GT channels itself (build.tcl selects the
# KCU105 PCIe interface), so these only document and cross-check the pins.
# Lane order as in the board description: rx_p AB2 AD2 AF2 AH2 AJ4 AK2 AM2 AP2,
# tx_p AC4 AE4 AG4 AH6 AK6 AL4 AM6 AN4. [UNVERIFIED: lane-to-quad mapping]
set_property PACKAGE_PIN AB2 [get_ports {pcie_rx_p[0]}]
set_property PACKAGE_PIN AD2 [get_ports {pcie_rx_p[1]}]
set_property PACKAGE_PIN AF2 [get_ports {pcie_rx_p[2]}]
set_property PACKAGE_PIN AH2 [get_ports {pcie_rx_p[3]}]
set_property PACKAGE_PIN AJ4 [get_ports {pcie_rx_p[4]}]
set_property PACKAGE_PIN AK2 [get_ports {pcie_rx_p[5]}]
set_property PACKAGE_PIN AM2 [get_ports {pcie_rx_p[6]}]
set_property PACKAGE_PIN AP2 [get_ports {pcie_rx_p[7]}]
set_property PACKAGE_PIN AC4 [get_ports {pcie_tx_p[0]}]
set_property PACKAGE_PIN AE4 [get_ports {pcie_tx_p[1]}]
set_property PACKAGE_PIN AG4 [get_ports {pcie_tx_p[2]}]
set_property PACKAGE_PIN AH6 [get_ports {pcie_tx_p[3]}]
set_property PACKAGE_PIN AK6 [get_ports {pcie_tx_p[4]}]
set_property PACKAGE_PIN AL4 [get_ports {pcie_tx_p[5]}]
set_property PACKAGE_PIN AM6 [get_ports {pcie_tx_p[6]}]
set_property PACKAGE_PIN AN4 [get_ports {pcie_tx_p[7]}]

# ------------------------------------------------------------- SFP+ cage 0 ----
# 156.25 MHz MGT reference clock from the programmable Si570 (USER_MGT_SI570
# clock), whose power-on default is 156.25 MHz per UG917. [UNVERIFIED: the
# default frequency; if QPLL lock (LED 3) stays off, program the Si570 over
# I2C or use the Si5328 jitter-attenuator clock on M6/M5 instead, which has
# to be programmed in any case.]
set_property PACKAGE_PIN P6 [get_ports sfp_refclk_p]
set_property PACKAGE_PIN P5 [get_ports sfp_refclk_n]
create_clock -name sfp_refclk -period 6.400 [get_ports sfp_refclk_p]

# SFP0 data pins (GTH, same quad as the reference clock).
set_property PACKAGE_PIN T2 [get_ports sfp0_rx_p]
set_property PACKAGE_PIN T1 [get_ports sfp0_rx_n]
set_property PACKAGE_PIN U4 [get_ports sfp0_tx_p]
set_property PACKAGE_PIN U3 [get_ports sfp0_tx_n]

# TX_DISABLE: driven active-low from the FPGA (the board inverts it towards
# the module), so 1 = laser on. [UNVERIFIED: polarity]
set_property PACKAGE_PIN AL8 [get_ports sfp0_tx_disable_b]
set_property IOSTANDARD LVCMOS18 [get_ports sfp0_tx_disable_b]
set_false_path -to [get_ports sfp0_tx_disable_b]
# Loss of signal from the module, only shown on LED 7.
set_property PACKAGE_PIN K21 [get_ports sfp0_rx_los]
set_property IOSTANDARD LVCMOS18 [get_ports sfp0_rx_los]
set_false_path -from [get_ports sfp0_rx_los]

# ------------------------------------------------------ free-running clock ----
# 125 MHz board oscillator: DRP/management clock of the 10G subsystem and the
# power-on reset counter. build.tcl tells the IP dclk runs at 125 MHz.
set_property PACKAGE_PIN G10 [get_ports clk125_p]
set_property PACKAGE_PIN F10 [get_ports clk125_n]
set_property IOSTANDARD LVDS [get_ports {clk125_p clk125_n}]
create_clock -name clk125 -period 8.000 [get_ports clk125_p]

# ------------------------------------------------------------------- LEDs ----
set_property PACKAGE_PIN AP8 [get_ports {led[0]}]
set_property PACKAGE_PIN H23 [get_ports {led[1]}]
set_property PACKAGE_PIN P20 [get_ports {led[2]}]
set_property PACKAGE_PIN P21 [get_ports {led[3]}]
set_property PACKAGE_PIN N22 [get_ports {led[4]}]
set_property PACKAGE_PIN M22 [get_ports {led[5]}]
set_property PACKAGE_PIN R23 [get_ports {led[6]}]
set_property PACKAGE_PIN P23 [get_ports {led[7]}]
set_property IOSTANDARD LVCMOS18 [get_ports {led[*]}]
set_false_path -to [get_ports {led[*]}]

# --------------------------------------------------------- clock crossings ----
# The IPs create their output clocks themselves: axi_aclk (250 MHz, from the
# PCIe GT) and coreclk_out (156.25 MHz, from the SFP reference clock).
# Two things cross between them. axil_regbus_bridge: held buses (x_addr,
# x_wdata, x_we one way, x_rdata the other) guarded by toggles that pass
# two-flop synchronizers (sync_bit, ASYNC_REG). A held bus must settle within
# one period of the faster clock, before the toggle can be seen; bound every
# path between the domains to that instead of ignoring them. And the DMA
# writes' dma_clock_converter (Xilinx AXI clock converter), whose FIFO
# pointers cross gray-coded: the same bound is what its own constraints ask
# for. [UNVERIFIED: that this global bound and the IP's scoped XDC agree.]
set axi_clk  [get_clocks -of_objects [get_pins pcie/axi_aclk]]
set core_clk [get_clocks -of_objects [get_pins eth/coreclk_out]]
set_max_delay -datapath_only -from $axi_clk  -to $core_clk 4.000
set_max_delay -datapath_only -from $core_clk -to $axi_clk  4.000

# dclk (clk125) reaches the other domains only through the 10G subsystem's
# asynchronous reset inputs (synchronized inside the IP).
set_clock_groups -asynchronous -group [get_clocks clk125] -group $core_clk
set_clock_groups -asynchronous -group [get_clocks clk125] -group $axi_clk
