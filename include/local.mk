include_HEADERS += include/thpvm.h
nobase_include_HEADERS += \
	include/thpvm/result.h \
	include/thpvm/host.h \
	include/thpvm/memmap.h \
	include/thpvm/extent.h \
	include/thpvm/coverage.h
nobase_include_HEADERS += include/thpvm/collapse.h include/thpvm/image.h
