# Vivado batch build of holdback for the Xilinx KCU105. UNTESTED: no Vivado on
# the machines this project is developed on; every vendor-IP parameter below
# is marked where its name or value could not be checked against a Vivado run.
#
# Usage (from the repository root):
#   holdback verilog --out target/hdl        # or: cargo run -p holdback-daemon -- verilog --out target/hdl
#   vivado -mode batch -source hdl/boards/kcu105/build.tcl \
#          -tclargs target/hdl build/kcu105
# Output: build/kcu105/holdback_kcu105.bit (+ timing/utilization reports).
# Then: holdback load --bitstream build/kcu105/holdback_kcu105.bit --board kcu105
#
# No .xci files are kept in the repository: every vendor IP is created from
# the Tcl below (create_ip + set_property), so the configuration is reviewable
# text and regenerates with any Vivado version that still has the IP.

set board_dir [file dirname [file normalize [info script]]]
set core_dir  [file normalize [expr {$argc >= 1 ? [lindex $argv 0] : "target/hdl"}]]
set out_dir   [file normalize [expr {$argc >= 2 ? [lindex $argv 1] : "build/kcu105"}]]
set part      xcku040-ffva1156-2-e
set top       holdback_kcu105_top
set jobs      [expr {[info exists ::env(HOLDBACK_VIVADO_JOBS)] ? $::env(HOLDBACK_VIVADO_JOBS) : 4}]

set core_v [file join $core_dir holdback_core.v]
if {![file exists $core_v]} {
    error "no $core_v: generate the core first with `holdback verilog --out $core_dir`"
}

# ------------------------------------------------------------------ project --
create_project -force -part $part holdback_kcu105 [file join $out_dir project]
# The KCU105 board files ship with Vivado; they let the IPs below pick the
# board's PCIe and SFP interfaces. Not fatal if this Vivado lacks them: the
# XDC pins the same locations. [UNVERIFIED: board_part version string]
if {[catch {set_property board_part [lindex [lsort [get_board_parts -quiet xilinx.com:kcu105:*]] end] [current_project]} msg]} {
    puts "WARNING: KCU105 board files not found ($msg); relying on the XDC only"
}

add_files -norecurse [list \
    $core_v \
    [file join $board_dir holdback_kcu105_top.v] \
    {*}[lsort [glob [file join $board_dir rtl *.v]]] \
]
add_files -fileset constrs_1 -norecurse [file join $board_dir holdback_kcu105.xdc]
set_property top $top [current_fileset]

# ------------------------------------------- AXI Bridge for PCIe Gen3 ------
# PCIe Gen3 x8 endpoint, 256-bit AXI at 250 MHz (docs/dma.md, "Which PCIe IP").
# PCIe BAR0 (1 MiB = holdback's 20-bit register space) comes out of M_AXI at
# AXI address 0. One AXI BAR takes the card's DMA writes on S_AXI: its
# aperture is the IOVA range the driver maps DMA memory in (48 bits), with an
# identity translation, so the IOVAs the host writes into the card's
# registers are the addresses of the TLPs. MSI with one vector. Device ID
# 0x4842 so no vendor driver claims the card and `holdback load` finds it
# (daemon/src/load.rs BOARDS).
# [UNVERIFIED: CONFIG names and values are our reading of PG194's
# configuration options; none has been through Vivado.]
create_ip -name axi_pcie3 -vendor xilinx.com -library ip -module_name axi_pcie3_0
set pcie_cfg [list \
    CONFIG.pl_link_cap_max_link_width {X8} \
    CONFIG.pl_link_cap_max_link_speed {8.0_GT/s} \
    CONFIG.axi_data_width {256_bit} \
    CONFIG.axisten_freq {250} \
    CONFIG.axi_addr_width {64} \
    CONFIG.en_axi_slave_if {true} \
    CONFIG.en_axi_master_if {true} \
    CONFIG.pf0_bar0_64bit {false} \
    CONFIG.pf0_bar0_scale {Megabytes} \
    CONFIG.pf0_bar0_size {1} \
    CONFIG.pciebar2axibar_0 {0x0000000000000000} \
    CONFIG.axibar_num {1} \
    CONFIG.axibar_0 {0x0000000000000000} \
    CONFIG.axibar_highaddr_0 {0x0000FFFFFFFFFFFF} \
    CONFIG.axibar2pciebar_0 {0x0000000000000000} \
    CONFIG.pf0_msi_enabled {true} \
    CONFIG.pf0_device_id {4842} \
]
# Board interface selection (lane placement, refclk, PERST#) when the board
# files are present. [UNVERIFIED: interface names of the KCU105 board file]
if {[get_property board_part [current_project]] ne ""} {
    lappend pcie_cfg CONFIG.PCIE_BOARD_INTERFACE {pci_express_x8} CONFIG.SYS_RST_N_BOARD_INTERFACE {pcie_perstn}
}
set_property -dict $pcie_cfg [get_ips axi_pcie3_0]

# ------------------------------------------------ AXI infrastructure --------
# DMA writes: the core's 64-bit AXI4 write master on coreclk -> clock
# converter -> 64 -> 256-bit upsizer on axi_aclk -> the bridge's S_AXI. Write
# channels only (reads come with the TX engine); no IDs (the core uses one).
# BAR0: the bridge's 256-bit M_AXI -> 32-bit downsizer -> AXI4 to AXI4-Lite
# protocol converter -> axil_regbus_bridge. The IDs of the host's requests
# travel through both and come back on B and R.
# [UNVERIFIED: CONFIG names and values are our reading of PG059.]
create_ip -name axi_clock_converter -vendor xilinx.com -library ip -module_name dma_clock_converter
set_property -dict [list \
    CONFIG.PROTOCOL {AXI4} \
    CONFIG.ADDR_WIDTH {64} \
    CONFIG.DATA_WIDTH {64} \
    CONFIG.ID_WIDTH {0} \
    CONFIG.READ_WRITE_MODE {READ_WRITE} \
    CONFIG.ACLK_ASYNC {1} \
] [get_ips dma_clock_converter]
create_ip -name axi_dwidth_converter -vendor xilinx.com -library ip -module_name dma_width_converter
set_property -dict [list \
    CONFIG.PROTOCOL {AXI4} \
    CONFIG.ADDR_WIDTH {64} \
    CONFIG.SI_DATA_WIDTH {64} \
    CONFIG.MI_DATA_WIDTH {256} \
    CONFIG.SI_ID_WIDTH {0} \
    CONFIG.READ_WRITE_MODE {READ_WRITE} \
    CONFIG.ACLK_ASYNC {0} \
] [get_ips dma_width_converter]
create_ip -name axi_dwidth_converter -vendor xilinx.com -library ip -module_name bar_width_converter
set_property -dict [list \
    CONFIG.PROTOCOL {AXI4} \
    CONFIG.ADDR_WIDTH {64} \
    CONFIG.SI_DATA_WIDTH {256} \
    CONFIG.MI_DATA_WIDTH {32} \
    CONFIG.SI_ID_WIDTH {4} \
    CONFIG.READ_WRITE_MODE {READ_WRITE} \
    CONFIG.ACLK_ASYNC {0} \
] [get_ips bar_width_converter]
create_ip -name axi_protocol_converter -vendor xilinx.com -library ip -module_name bar_protocol_converter
set_property -dict [list \
    CONFIG.SI_PROTOCOL {AXI4} \
    CONFIG.MI_PROTOCOL {AXI4LITE} \
    CONFIG.ADDR_WIDTH {64} \
    CONFIG.DATA_WIDTH {32} \
    CONFIG.ID_WIDTH {4} \
    CONFIG.READ_WRITE_MODE {READ_WRITE} \
] [get_ips bar_protocol_converter]

# ------------------------------------------------------- 10G Ethernet ------
# MAC + 10GBASE-R PCS/PMA, 64-bit AXI-Stream on coreclk_out (156.25 MHz),
# shared logic (QPLL, clocking) inside the core, AXI-Lite management present
# (tied idle by the top: reset configuration), no statistics counters.
create_ip -name axi_10g_ethernet -vendor xilinx.com -library ip -module_name axi_10g_ethernet_0
set_property -dict [list \
    CONFIG.base_kr {BASE-R} \
    CONFIG.SupportLevel {1} \
    CONFIG.Management_Interface {true} \
    CONFIG.Statistics_Gathering {0} \
    CONFIG.autonegotiation {0} \
    CONFIG.fec {0} \
    CONFIG.DClkRate {125} \
] [get_ips axi_10g_ethernet_0]
# [UNVERIFIED: CONFIG.DClkRate is our reading of PG157's "DRP clock
# frequency" option; if Vivado rejects it, drop it and feed dclk 100 MHz from
# an MMCM instead.]

# Generate the IPs out of context (faster incremental builds), then compare
# the port lists Vivado wrote with our lint stubs: a mismatch means the stubs
# (and possibly the top) are stale, which lint could not have caught.
set vendor_ips {axi_pcie3_0 dma_clock_converter dma_width_converter bar_width_converter bar_protocol_converter axi_10g_ethernet_0}
set ips [get_ips $vendor_ips]
generate_target all $ips
foreach ip $ips {
    create_ip_run $ip
}
launch_runs -jobs $jobs [get_runs -filter {NAME =~ "*_synth_1" && NAME != "synth_1"}]
foreach run [get_runs -filter {NAME =~ "*_synth_1" && NAME != "synth_1"}] {
    wait_on_run $run
}
proc port_names {file} {
    set fh [open $file r]; set text [read $fh]; close $fh
    set names {}
    foreach {_ name} [regexp -all -inline {(?:input|output|inout)\s+(?:wire\s+)?(?:\[[^\]]+\]\s*)?(\w+)} $text] {
        lappend names $name
    }
    return [lsort $names]
}
proc only_in {a b} {
    set out {}
    foreach x $a { if {[lsearch -exact $b $x] < 0} { lappend out $x } }
    return $out
}
foreach ip $vendor_ips {
    set real [lindex [get_files -quiet -of_objects [get_files ${ip}.xci] ${ip}_stub.v] 0]
    if {$real eq ""} { puts "WARNING: no synthesis stub for $ip to compare"; continue }
    set ours [port_names [file join $board_dir stubs ${ip}.v]]
    set theirs [port_names $real]
    if {$ours ne $theirs} {
        puts "ERROR: hdl/boards/kcu105/stubs/${ip}.v does not match Vivado's $real"
        puts "  only in ours:   [only_in $ours $theirs]"
        puts "  only in Vivado: [only_in $theirs $ours]"
        error "stale IP stub for $ip: update the stub and the top"
    }
}

# ------------------------------------------------------- synth/impl/bit -----
launch_runs synth_1 -jobs $jobs
wait_on_run synth_1
if {[get_property PROGRESS [get_runs synth_1]] ne "100%"} { error "synthesis failed" }

launch_runs impl_1 -to_step write_bitstream -jobs $jobs
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] ne "100%"} { error "implementation failed" }

open_run impl_1
report_timing_summary -file [file join $out_dir timing_summary.rpt]
report_utilization -file [file join $out_dir utilization.rpt]
report_cdc -file [file join $out_dir cdc.rpt]
# Failing timing is an error, not a warning: a bitstream that misses timing
# (the core has not been timed at 156.25 MHz before) fails in odd ways.
set wns [get_property STATS.WNS [get_runs impl_1]]
set bit [file join $out_dir holdback_kcu105.bit]
file copy -force [glob [file join $out_dir project holdback_kcu105.runs impl_1 *.bit]] $bit
if {$wns < 0} {
    error "timing not met (WNS $wns ns), see [file join $out_dir timing_summary.rpt]; the bitstream $bit is NOT safe to load"
}
puts "holdback: wrote $bit (WNS $wns ns)"
